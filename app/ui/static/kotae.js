() => {
  // Scroll each cited passage so that its highlighted sentence is in view
  // whenever the Sources panel changes (long passages scroll inside their box).
  const reveal = (root) => {
    root.querySelectorAll(".kotae-passage").forEach((passage) => {
      const mark = passage.querySelector("mark");
      if (mark) passage.scrollTop = Math.max(0, mark.offsetTop - passage.offsetTop - 24);
    });
  };
  const watch = () => {
    const panel = document.querySelector("#kotae-sources");
    if (!panel) return setTimeout(watch, 200);
    new MutationObserver(() => reveal(panel)).observe(panel, { childList: true, subtree: true });
    reveal(panel);
  };
  watch();
}
