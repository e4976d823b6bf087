export default async function globalTeardown(): Promise<void> {
  await globalThis.__BUILDSTORY_TEST_ENV__?.teardown();
}
