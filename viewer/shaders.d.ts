// Provided at bundle time by runner/view-server/viewer-build.ts: every shaders/*.wgsl file by name.
declare module 'earlyphase:shaders' {
  const shaders: Readonly<Record<string, string>>;
  export default shaders;
}
