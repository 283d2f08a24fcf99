export const JEMALLOC_PACKAGE: string;
export function findJemalloc(): string | undefined;
export function allocatorEnv(env?: NodeJS.ProcessEnv): Record<string, string>;
