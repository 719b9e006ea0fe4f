// Basic accessibility checks a workbench spec runs on each page (see tests/browser/README.md).

/** Every visible form control without a label, and every text below 4.5:1 contrast. */
export async function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    for (const control of document.querySelectorAll('input, select, textarea')) {
      if (control.type === 'hidden') continue;
      if (!control.labels || control.labels.length === 0) problems.push(`no label: ${control.outerHTML}`);
    }
    const rgb = (text) => (text.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r, g, b]) => {
      const channel = (c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (element) => {
      for (let node = element; node; node = node.parentElement) {
        const color = rgb(getComputedStyle(node).backgroundColor);
        if (color.length === 3 || (color.length === 4 && color[3] > 0.5)) return color.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const texts = document.querySelectorAll('main p, main td, main th, main dt, main dd, label, .hint, a, button, .field-error, summary');
    for (const element of texts) {
      if (!element.offsetParent || !element.textContent.trim()) continue;
      const fg = luminance(rgb(getComputedStyle(element).color).slice(0, 3));
      const bg = luminance(background(element));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${element.textContent.trim().slice(0, 40)}`);
    }
    return problems;
  });
}
