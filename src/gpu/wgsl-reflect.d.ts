// wgsl_reflect's package entry ("main") is a CommonJS file in a "type": "module" package, which
// Node cannot import; its ES module build (the "module" entry, what esbuild bundles for the
// browser) works everywhere, so the engine imports that path. It has the package's API and types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
