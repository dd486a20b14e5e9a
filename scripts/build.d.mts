// Types of scripts/build.mjs, for the TypeScript that imports it (the test setup).
export declare const bundlePath: string;
export declare function isStale(): boolean;
export declare function build(options?: { log?: (line: string) => void }): Promise<void>;
