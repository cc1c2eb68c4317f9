export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as { __timDevServer?: { stop(): Promise<void> } }).__timDevServer;
  await server?.stop();
}
