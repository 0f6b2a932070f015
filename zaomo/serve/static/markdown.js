// A small Markdown renderer that cannot inject markup: it builds DOM nodes with createElement and text nodes
// only (no innerHTML anywhere), so "<script>" or "<img onerror=…>" in a model's answer stays text.
// Blocks: paragraphs (single newlines are line breaks), fenced code, headings, lists, block quotes.
// Inline: `code`, **bold**, *italic* / _italic_, [text](http(s) URL), bare http(s) URLs, and [n] citation
// references (links to the cited passage, when the caller passes a `citeHref`).
"use strict";
(function (global) {
  const FENCE = /^\s*(```|~~~)\s*([\w+.#-]*)\s*$/;
  const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const QUOTE = /^\s*>\s?(.*)$/;
  const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
  // one alternative per inline rule; the first that matches at the earliest position wins
  const INLINE = new RegExp([
    "`([^`\\n]+)`",                                   // 1 code
    "\\*\\*(?=\\S)([\\s\\S]+?)\\*\\*",                // 2 bold
    "(?<![\\w])__(?=\\S)([\\s\\S]+?)__(?![\\w])",     // 3 bold
    "(?<![\\w*])\\*(?=[^\\s*])([^*\\n]+?)\\*(?![\\w*])", // 4 italic (not inside 2*3*4)
    "(?<![\\w])_(?=[^\\s_])([^_\\n]+?)_(?![\\w])",    // 5 italic
    "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)",            // 6, 7 link
    "\\[(\\d{1,3})\\]",                               // 8 citation reference
    "(https?:\\/\\/[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?'\"，。；：！？、])", // 9 bare URL
  ].join("|"), "g");

  function el(tag, cls) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  function safeUrl(url) {
    return /^https?:\/\/[^\s]+$/i.test(url) ? url : null;
  }

  function link(href, parent) {
    const a = el("a");
    a.setAttribute("href", href);
    a.setAttribute("rel", "noopener noreferrer");
    a.setAttribute("target", "_blank");
    parent.appendChild(a);
    return a;
  }

  function inline(text, parent, opts, depth = 0) {
    let last = 0, m;
    const re = new RegExp(INLINE.source, "g");
    const put = s => { if (s) parent.appendChild(document.createTextNode(s)); };
    while ((m = re.exec(text))) {
      put(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[1] !== undefined) el_(parent, "code").textContent = m[1];
      else if (m[2] !== undefined || m[3] !== undefined) inline(m[2] ?? m[3], el_(parent, "strong"), opts, depth + 1);
      else if (m[4] !== undefined || m[5] !== undefined) inline(m[4] ?? m[5], el_(parent, "em"), opts, depth + 1);
      else if (m[6] !== undefined) {
        const href = safeUrl(m[7]);
        if (href && depth < 4) inline(m[6], link(href, parent), { ...opts, noLinks: true }, depth + 1);
        else put(m[0]);  // not http(s): shown as written, never a link
      } else if (m[8] !== undefined) {
        const href = opts.citeHref && opts.citeHref(Number(m[8]));
        if (href && !opts.noLinks) {
          const a = el_(parent, "a");
          a.className = "cite-ref";
          a.setAttribute("href", href);
          a.textContent = m[0];
        } else put(m[0]);
      } else if (m[9] !== undefined) {
        if (opts.noLinks) put(m[9]); else link(m[9], parent).textContent = m[9];
      }
    }
    put(text.slice(last));
  }

  function el_(parent, tag) {
    return parent.appendChild(el(tag));
  }

  function paragraph(lines, parent, opts, tag = "p") {
    const p = el_(parent, tag);
    lines.forEach((line, i) => {
      if (i) p.appendChild(el("br"));
      inline(line, p, opts);
    });
  }

  function blocks(lines, parent, opts, depth) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (!line.trim()) { i++; continue; }
      if ((m = FENCE.exec(line))) {
        const close = m[1];
        const body = [];
        i++;
        while (i < lines.length && lines[i].trim() !== close) body.push(lines[i++]);
        i++;  // the closing fence (or the end while an answer is still streaming)
        const pre = el_(parent, "pre");
        const code = el_(pre, "code");
        if (m[2]) code.dataset.lang = m[2];
        code.textContent = body.join("\n");
        continue;
      }
      if ((m = HEADING.exec(line))) {
        const h = el_(parent, `h${Math.min(6, m[1].length + 2)}`);
        inline(m[2], h, opts);
        i++;
        continue;
      }
      if (RULE.test(line)) { el_(parent, "hr"); i++; continue; }
      if (QUOTE.test(line) && depth < 4) {
        const inner = [];
        while (i < lines.length && (m = QUOTE.exec(lines[i]))) { inner.push(m[1]); i++; }
        blocks(inner, el_(parent, "blockquote"), opts, depth + 1);
        continue;
      }
      if ((m = ITEM.exec(line))) {
        const ordered = /\d/.test(m[2]);
        const list = el_(parent, ordered ? "ol" : "ul");
        if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute("start", String(parseInt(m[2], 10)));
        const indent = m[1].length;
        let item = null, itemLines = [];
        const flush = () => { if (item) blocksOrInline(itemLines, item, opts, depth); };
        while (i < lines.length) {
          const l = lines[i];
          const im = ITEM.exec(l);
          if (im && im[1].length <= indent + 1 && /\d/.test(im[2]) === ordered) {
            flush();
            item = el_(list, "li");
            itemLines = [im[3]];
          } else if (l.trim() && (/^\s/.test(l) || !(ITEM.test(l) || FENCE.test(l) || HEADING.test(l)))
                     && (itemLines.length === 0 || lines[i - 1].trim() || /^\s/.test(l))) {
            itemLines.push(l.replace(/^\s{1,4}/, ""));  // a continuation or a nested list
          } else if (!l.trim() && i + 1 < lines.length && /^\s+\S/.test(lines[i + 1])) {
            itemLines.push("");
          } else break;
          i++;
        }
        flush();
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i])
             && !(para.length && (ITEM.test(lines[i]) || QUOTE.test(lines[i])))) para.push(lines[i++]);
      paragraph(para, parent, opts);
    }
  }

  function blocksOrInline(lines, li, opts, depth) {
    const nested = lines.some((l, k) => k > 0 && (ITEM.test(l) || FENCE.test(l) || !l.trim()));
    if (nested && depth < 4) blocks(lines, li, opts, depth + 1);
    else lines.forEach((l, k) => { if (k) li.appendChild(el("br")); inline(l, li, opts); });
  }

  /** Render `src` into a DocumentFragment. opts.citeHref(n) → an href for citation [n], or null. */
  function renderMarkdown(src, opts = {}) {
    const frag = document.createDocumentFragment();
    blocks(String(src || "").replace(/\r\n?/g, "\n").split("\n"), frag, opts, 0);
    return frag;
  }

  global.renderMarkdown = renderMarkdown;
})(window);
