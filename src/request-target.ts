// The path and query of an HTTP request target, as written. The control server and a worker's fetch() apps
// both take a target in absolute form (`GET http://host/path`, RFC 9112 3.2.2) as the origin form it
// stands for; a URL parser would resolve dot segments and read `?` or `#` in the authority differently.

/**
 * `target` in origin form: unchanged when it is one, the part after the authority when it is in absolute
 * form (`/` when that is empty, `/?q` for a bare query); null when it is neither (`*`, an authority).
 */
export function originForm(target: string): string | null {
  if (target.startsWith('/')) return target;
  const absolute = /^https?:\/\/[^/?#]*(.*)$/is.exec(target);
  if (!absolute) return null;
  const rest = absolute[1] as string;
  return rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
}
