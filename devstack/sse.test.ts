import { SseDecoder } from './sse';

const bytes = (text: string) => new TextEncoder().encode(text);

test('frames cut across chunks, and a character cut across chunks, come out whole', () => {
  const decoder = new SseDecoder();
  const wire = bytes('id: r1:1\nevent: story\ndata: {"title":"café"}\n\n: ping\n\nevent: end\ndata: a\ndata: b\n\n');
  const frames = [];
  // One byte at a time: every frame boundary and the two bytes of "é" fall between chunks.
  for (let i = 0; i < wire.length; i++) frames.push(...decoder.push(wire.subarray(i, i + 1)).frames);
  expect(frames).toEqual([
    { event: 'story', id: 'r1:1', data: '{"title":"café"}' },
    { event: 'message', id: undefined, data: '' },
    { event: 'end', id: undefined, data: 'a\nb' },
  ]);
});

test('a frame is handed over only once its blank line has arrived', () => {
  const decoder = new SseDecoder();
  expect(decoder.push(bytes('event: story\ndata: 1\n')).frames).toEqual([]);
  expect(decoder.push(bytes('\nevent: story\n')).frames).toEqual([{ event: 'story', id: undefined, data: '1' }]);
});
