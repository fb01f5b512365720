/**
 * @module RFC 9457 problem details: every error the server answers.
 *
 * A handler throws {@linkcode Problem}; the app's error handler turns it (and
 * any `ZodError` or unexpected error) into an `application/problem+json`
 * response, so a client always gets `{type, title, status, detail}` and, for
 * invalid fields, `errors: [{field, message}]` naming each field and what is
 * allowed.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError } from "zod";
import { StyleError, type StyleErrorReason } from "../styles/store.ts";

/** One invalid field: its dotted path (`options.iterations`) and what is wrong or allowed. */
export interface FieldError {
  /** Dotted path of the field, e.g. `options.iterations`. */
  field: string;
  /** Why it is wrong and what is allowed. */
  message: string;
}

/** The JSON body of an error response (RFC 9457). */
export interface ProblemBody {
  /** Problem type: a short identifier such as `no-route` or `body-too-large`. */
  type: string;
  /** Short summary of the problem type. */
  title: string;
  /** The HTTP status code. */
  status: number;
  /** What went wrong in this request. */
  detail: string;
  /** One entry per invalid field, for validation errors. */
  errors?: FieldError[];
  /** Extension members, e.g. `network` and `command` (what installs missing weights). */
  [extra: string]: unknown;
}

/** Media type of problem responses. */
export const PROBLEM_JSON = "application/problem+json";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * An error with an HTTP status, a human `detail`, optional field errors,
 * extra members and headers (`Retry-After`, `WWW-Authenticate`).
 *
 * @example
 * ```ts
 * throw new Problem(404, `no job "${id}"`, { type: "unknown-job" });
 * ```
 */
export class Problem extends Error {
  readonly status: number;
  readonly body: ProblemBody;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    detail: string,
    options: {
      /** Short slug appended to `/problems/`; default from the status. */
      type?: string;
      errors?: FieldError[];
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
    } = {},
  ) {
    super(detail);
    this.name = "Problem";
    this.status = status;
    this.headers = options.headers ?? {};
    this.body = {
      type: `/problems/${options.type ?? slug(TITLES[status] ?? "error")}`,
      title: TITLES[status] ?? "Error",
      status,
      detail,
      ...(options.errors ? { errors: options.errors } : {}),
      ...options.extra,
    };
  }
}

/** A 422 Problem listing each invalid field; `prefix` names where the fields live (`options`). */
export function fieldProblem(error: ZodError, prefix?: string): Problem {
  const errors = error.issues.map((issue) => ({
    field: [prefix, ...issue.path.map(String)].filter(Boolean).join(".") || (prefix ?? "body"),
    message: issue.message,
  }));
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return new Problem(422, detail, { type: "invalid-field", errors });
}

/** How each refusal of the style store is answered: status, problem type, and a hint. */
const STYLE_PROBLEMS: Record<StyleErrorReason, { status: number; type: string; hint?: string }> = {
  "unknown": { status: 404, type: "unknown-style", hint: "GET /v1/styles lists uploads too" },
  "not-fetched": { status: 503, type: "style-not-fetched" },
  "exists": { status: 409, type: "style-exists" },
  "full": { status: 409, type: "style-quota", hint: "delete some with DELETE /v1/styles/{id}" },
  "built-in": { status: 403, type: "built-in-style" },
};

/** A StyleError as a Problem; `field` names the form field it is about, when there is one. */
export function styleProblem(error: StyleError, field?: string): Problem {
  const { status, type, hint } = STYLE_PROBLEMS[error.reason];
  const detail = hint ? `${error.message}; ${hint}` : error.message;
  const message = error.reason === "exists" ? `already stored as "${error.existingId}"` : detail;
  return new Problem(status, detail, {
    type,
    ...(field ? { errors: [{ field, message }] } : {}),
    ...(error.existingId ? { extra: { id: error.existingId } } : {}),
  });
}

/**
 * Turns anything thrown into a Problem. An unexpected error becomes a 500 whose
 * body says nothing of it (no message, path or engine internals): only
 * `reference`, the id under which the caller logs the error, when given.
 * A malformed percent-encoding in the URL is the client's: 400.
 */
export function toProblem(error: unknown, reference?: string): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof ZodError) return fieldProblem(error);
  if (error instanceof StyleError) return styleProblem(error);
  if (error instanceof HTTPException) return new Problem(error.status, error.message);
  if (error instanceof URIError) {
    return new Problem(400, "the URL has a malformed percent-encoding (such as %zz)", {
      type: "malformed-url",
      errors: [{ field: "url", message: "malformed percent-encoding" }],
    });
  }
  return new Problem(
    500,
    `internal error${reference ? ` ${reference}` : ""}: the server's log has the details` +
      (reference ? " under that id" : ""),
    { type: "internal", extra: reference ? { requestId: reference } : {} },
  );
}

/** Writes a Problem as an `application/problem+json` response. */
export function problemResponse(problem: Problem): Response {
  return new Response(JSON.stringify(problem.body), {
    status: problem.status,
    headers: { "content-type": PROBLEM_JSON, ...problem.headers },
  });
}

/**
 * Hono `onError` handler: every thrown error becomes a problem response. A 5xx
 * is logged with a request id, which the response carries (`requestId`,
 * `X-Request-Id`) so a report can be matched with the log.
 */
export function onProblem(error: Error, c: Context): Response {
  const requestId = crypto.randomUUID();
  const problem = toProblem(error, requestId);
  if (problem.status >= 500) {
    const url = new URL(c.req.url);
    console.error(`restyle request ${requestId} (${c.req.method} ${url.pathname}):`, error);
    problem.headers["X-Request-Id"] = requestId;
    problem.body.requestId ??= requestId;
  }
  return problemResponse(problem);
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
