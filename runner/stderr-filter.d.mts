// Types of runner/stderr-filter.mjs (plain JavaScript so the `earlyphase` wrapper needs no tsx).
export declare const DAWN_LIMIT_WARNING: RegExp;
export declare function dawnWarningFilter(write: (s: string) => void): { push(chunk: string): void; end(): void };
