// The typed config's public face: `defineConfig` and the types an editor checks a drover.config.ts
// against. The types are derived from the schema table (schema.ts), so every key the table has — drover's
// own and those added later — is typed here without being listed twice.
import type { KeySpec, SCHEMA } from './schema.js';
import type { TYPED_SECTIONS } from './typed.js';

/** A value a string-typed key takes: a union of literals where the parser knows them (autorestart, log_format…). */
type StringInput<T> = string extends T ? string : T | ('true' extends T ? boolean : never);

/** What a key takes in a typed config, from its row: its shape, its type label, else what its parser returns. */
export type KeyInput<S> = S extends { readonly typed: 'pairs' }
  ? Readonly<Record<string, string | number | boolean>> | string
  : S extends { readonly typed: 'list' | 'words' }
    ? readonly (string | number)[] | string
    : S extends { readonly typed: 'octal' }
      ? number | string
      : S extends { readonly type: 'integer' }
        ? number
        : S extends KeySpec<infer T>
          ? [T] extends [boolean]
            ? boolean
            : [T] extends [number]
              ? number | string
              : [T] extends [readonly unknown[]]
                ? readonly (string | number)[] | string
                : [T] extends [string]
                  ? StringInput<T>
                  : string
          : never;

/** One section: any of its table's keys, each optional (unset takes the default, as in the INI). */
export type SectionInput<Table> = { readonly [K in keyof Table]?: KeyInput<Table[K]> | null | undefined };

type TableOf<Top extends keyof typeof TYPED_SECTIONS> = (typeof SCHEMA)[(typeof TYPED_SECTIONS)[Top]['kind']];

/**
 * A typed config: the top-level keys are the INI sections (`supervisord`, `unix_http_server`, …), and
 * `programs`, `groups`, `sockets`, `eventlisteners`, `fcgi_programs` are records of named sections.
 */
export type DroverConfig = {
  readonly [Top in keyof typeof TYPED_SECTIONS]?: (typeof TYPED_SECTIONS)[Top] extends { readonly prefix: string }
    ? Readonly<Record<string, SectionInput<TableOf<Top>>>> | null
    : SectionInput<TableOf<Top>> | null;
};

/** The program section of a typed config, for helpers that build programs. */
export type ProgramConfig = SectionInput<(typeof SCHEMA)['program']>;

/** What a config function receives. */
export interface ConfigContext {
  /** the environment drover was started with (as %(ENV_X)s sees it) */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A typed config as written, or a function of the environment that returns one (or a promise of one). */
export type ConfigInput = DroverConfig | ((ctx: ConfigContext) => DroverConfig | Promise<DroverConfig>);

/**
 * Declares a drover config: `export default defineConfig({ programs: { web: { command: 'node app.js' } } })`,
 * or `defineConfig(({ env }) => ({ … }))`. It returns its argument; the types are what it adds.
 */
export function defineConfig(config: DroverConfig): DroverConfig;
export function defineConfig(config: (ctx: ConfigContext) => DroverConfig | Promise<DroverConfig>): (ctx: ConfigContext) => DroverConfig | Promise<DroverConfig>;
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
