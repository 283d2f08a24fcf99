const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Row ids are UUIDs: anything else names nothing (and never reaches a query that would reject it). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
