/**
 * Markdown with code highlighted: loaded on demand by Markdown.tsx, so highlight.js's languages
 * stay out of the pages' first download.
 */
import rehypeHighlight from 'rehype-highlight';
import { MarkdownBody, type RehypePlugins } from './MarkdownBody';

const rehypePlugins = [[rehypeHighlight, { detect: false }]] satisfies RehypePlugins;

export default function HighlightedMarkdown({ children }: { children: string }) {
  return <MarkdownBody rehypePlugins={rehypePlugins}>{children}</MarkdownBody>;
}
