// MathJax settings for pymdownx.arithmatex (generic mode): typeset only the spans and
// blocks that arithmatex marked, and again after each instant-navigation page change.
window.MathJax = {
  loader: { load: ["[tex]/textmacros"] },  // \_ inside \text{...}, as in LaTeX
  tex: {
    packages: { "[+]": ["textmacros"] },
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
