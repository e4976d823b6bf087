import type { ComponentPropsWithoutRef } from 'react';
import ReactMarkdown, { type Components } from 'react-markdown';

/*
 * Model output is untrusted. react-markdown builds React elements, never innerHTML, and without
 * rehype-raw it turns raw HTML in the input into plain text: `<script>` shows as the characters it
 * is. Its default urlTransform drops javascript: and other unsafe URLs. Styles: `.markdown` in
 * tailwind.css; code colours: the highlight.js theme imported there.
 */

const components: Components = {
  // urlTransform empties unsafe URLs (javascript: and the like): such a link is shown as its text.
  a: ({ node: _node, href, children, ...props }) =>
    href ? (
      <a {...props} href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    ),
  // An image in model output would be fetched from wherever it points: show a link instead.
  img: ({ src, alt }) =>
    src ? (
      <a href={src} target="_blank" rel="noopener noreferrer nofollow">
        {`[image${alt ? `: ${alt}` : ''}]`}
      </a>
    ) : null,
};

export type RehypePlugins = NonNullable<ComponentPropsWithoutRef<typeof ReactMarkdown>['rehypePlugins']>;

/** The text as Markdown, with the safe components above and, optionally, rehype plugins. */
export function MarkdownBody({ children, rehypePlugins }: { children: string; rehypePlugins?: RehypePlugins }) {
  return (
    <ReactMarkdown rehypePlugins={rehypePlugins} components={components}>
      {children}
    </ReactMarkdown>
  );
}
