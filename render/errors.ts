/**
 * Errors of the render layer. Each names what was wrong with which value and what to do, so the
 * CLI can print `message` as is (and `hint` when present).
 */

/** Base class: every render error carries an optional hint for the person. */
export class RenderError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RenderError';
  }
}

/** A template names a variable that is neither built in nor a parameter. */
export class UnknownTemplateVariableError extends RenderError {
  constructor(
    readonly variable: string,
    readonly known: readonly string[],
    readonly template: string,
  ) {
    super(
      `unknown variable $${variable} in the command template; known variables: ${known.map((k) => `$${k}`).join(' ')}`,
      `define it with -P ${variable}=VALUE, or write $$ for a literal dollar sign`,
    );
    this.name = 'UnknownTemplateVariableError';
  }
}

/** A template is malformed (an unclosed `${`, an empty `${}`). */
export class TemplateSyntaxError extends RenderError {
  constructor(
    readonly template: string,
    readonly offset: number,
    what: string,
  ) {
    super(`command template: ${what} at character ${offset + 1}`);
    this.name = 'TemplateSyntaxError';
  }
}

/** A frame range, chunk or tile option cannot make a plan. */
export class RenderPlanError extends RenderError {
  constructor(
    readonly option: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'RenderPlanError';
  }
}

/** A software configuration is unknown or malformed. */
export class SoftwareConfigError extends RenderError {
  constructor(
    readonly software: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'SoftwareConfigError';
  }
}

/** A PNG cannot be decoded (or encoded) by our minimal codec. */
export class PngError extends RenderError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'PngError';
  }
}

/** Tiles of a frame are missing or do not fit together. */
export class StitchError extends RenderError {
  constructor(
    readonly frame: number,
    message: string,
    hint?: string,
  ) {
    super(`frame ${frame}: ${message}`, hint);
    this.name = 'StitchError';
  }
}

/** An output location qfarm cannot write to (yet). */
export class OutputLocationError extends RenderError {
  constructor(
    readonly location: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'OutputLocationError';
  }
}
