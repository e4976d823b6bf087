/**
 * Code highlighted on the server, as HTML with highlight.js's classes (the same lowlight and
 * common languages the pages' Markdown uses, and the same stylesheet): for pages that show one
 * file, so that their JavaScript carries no highlighter.
 */
import { common, createLowlight } from 'lowlight';

const lowlight = createLowlight(common);

interface HastNode {
  type: string;
  value?: string;
  properties?: { className?: string[] | string };
  children?: HastNode[];
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function toHtml(node: HastNode): string {
  if (node.type === 'text') return escape(node.value ?? '');
  const inner = (node.children ?? []).map(toHtml).join('');
  if (node.type !== 'element') return inner;
  const className = node.properties?.className;
  const classes = Array.isArray(className) ? className.join(' ') : (className ?? '');
  return `<span${classes ? ` class="${escape(classes)}"` : ''}>${inner}</span>`;
}

/** `text` as HTML, highlighted when `language` is one lowlight knows, escaped either way. */
export function highlightHtml(text: string, language: string): string {
  if (!lowlight.registered(language)) return escape(text);
  return toHtml(lowlight.highlight(language, text) as HastNode);
}
