export function webBuildIsStale(): boolean;
/** Builds web/dist unless it is already newer than every source file (`force` builds anyway). */
export function ensureWebBuilt(options?: { force?: boolean }): Promise<boolean>;
