import { Suspense, lazy } from 'react';
import { MarkdownBody } from './MarkdownBody';

/*
 * Highlighting (rehype-highlight with lowlight's common languages, about 55 KB gzipped) is a chunk
 * of its own, fetched only for text with a fenced code block that names its language: the only
 * code it colours (no guessing). Until it is there the code shows plain. The server renders it
 * highlighted; a page hydrating such a block keeps the server's HTML until the chunk has arrived.
 */
const HighlightedMarkdown = lazy(() => import('./HighlightedMarkdown'));
const FENCE_WITH_LANGUAGE = /(?:```|~~~)[ \t]*[A-Za-z]/;

export function Markdown({ children, className = '' }: { children: string; className?: string }) {
  return (
    <div className={`markdown ${className}`.trim()}>
      {FENCE_WITH_LANGUAGE.test(children) ? (
        <Suspense fallback={<MarkdownBody>{children}</MarkdownBody>}>
          <HighlightedMarkdown>{children}</HighlightedMarkdown>
        </Suspense>
      ) : (
        <MarkdownBody>{children}</MarkdownBody>
      )}
    </div>
  );
}
