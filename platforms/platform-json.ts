/**
 * JSON.parse for platform answers, except that an integer too large for a double is kept as its
 * digits: platform ids are int64 (TikTok's publicaly_available_post_id, Instagram user ids) and a
 * plain parse rounds them to another id. Strings are matched first so their contents stay as sent.
 */
export function parsePlatformJson(text: string): unknown {
  return JSON.parse(
    // A whole integer only: not the digits of a fraction or an exponent (0.30000000000000004).
    text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?=\s*[,\]}])/g, (token) =>
      token.startsWith('"') || Number.isSafeInteger(Number(token)) ? token : `"${token}"`,
    ),
  );
}
