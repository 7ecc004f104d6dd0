// Hybrid logical clock: stamps that order every change on every device.
//
// Mirror of sync/clock.py, function for function; tests/vectors/clock.json holds both
// to the same answers. The contract is docs/protocol.md.
//
// A device's clock state is a frozen {millis, counter, node}. It is a value, never a
// global: every function takes the current state and the wall time `now` (integer ms
// since the Unix epoch, Date.now() corrected by the offset measured from the server's
// time) and returns the next state. The caller stores it.
//
// send(old, now) -- stamp a local event:
//   l = max(old.millis, now)
//   c = old.counter + 1 if l == old.millis else 0
//   l - now > maxDrift -> ClockDriftError (checked first)
//   c > 0xffff         -> CounterOverflowError
//   the new state (l, c, old.node) is also the stamp of the event.
//
// receive(old, remote, now) -- fold in a stamp made elsewhere:
//   remote.node == old.node -> DuplicateNodeError (checked first: two devices with one
//     node id could mint the same stamp for different changes, which breaks merge)
//   l = max(old.millis, now, remote.millis)
//   c = max(old.counter, remote.counter) + 1 if l == old.millis == remote.millis
//       old.counter + 1                      if l == old.millis only
//       remote.counter + 1                   if l == remote.millis only
//       0                                    otherwise (the wall clock is ahead of both)
//   then the drift and overflow checks of send, in the same order.
//
// Why it works: l never decreases and (l, c) strictly increases with every send and
// receive, so a stamp is greater than every stamp its device made or saw before; the
// node id breaks the remaining ties, so stamps are unique.
//
// Stamp string, exactly 46 characters, all fixed width:
//   YYYY-MM-DDTHH:MM:SS.mmmZ-CCCC-NNNNNNNNNNNNNNNN
// Fixed widths and years 0000..9999 make plain string order equal to the order of
// (millis, counter, node). Date arithmetic is done by hand (Hinnant's civil algorithms)
// rather than with Date.UTC, which maps years 0..99 to 1900..1999.

export const MAX_DRIFT_MS = 5 * 60 * 1000;
export const MAX_COUNTER = 0xffff;
export const STAMP_LENGTH = 46;

const MS_PER_DAY = 86400000;
const MIN_MILLIS = -62167219200000; // 0000-01-01T00:00:00.000Z
const MAX_MILLIS = 253402300799999; // 9999-12-31T23:59:59.999Z

const STAMP_RE =
  /^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$/;
const NODE_RE = /^[0-9a-f]{16}$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Base class of every clock failure; `code` is a stable machine-readable name. */
export class ClockError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ClockError';
    this.code = 'clock_error';
  }
}

/** A stamp is not in the 46-character form, or a timestamp cannot be written as one. */
export class MalformedStampError extends ClockError {
  /** @param {unknown} [stamp] the offending input */
  constructor(stamp) {
    super(
      'malformed hlc stamp: expected 46 characters ' +
        'YYYY-MM-DDTHH:MM:SS.mmmZ-CCCC-NNNNNNNNNNNNNNNN ' +
        '(a real UTC date in years 0000-9999, lowercase hex counter and node)',
    );
    this.name = 'MalformedStampError';
    this.code = 'malformed_stamp';
    this.stamp = stamp;
  }
}

/** The clock would run further ahead of the wall time than maxDrift allows. */
export class ClockDriftError extends ClockError {
  /**
   * @param {number} drift how many ms ahead of `now` the clock would be
   * @param {number} limit the maxDrift that was exceeded, in ms
   */
  constructor(drift, limit) {
    super(`clock would be ${drift} ms ahead of wall time (limit ${limit} ms)`);
    this.name = 'ClockDriftError';
    this.code = 'clock_drift';
    this.drift = drift;
    this.limit = limit;
  }
}

/** More than 65,536 events in one millisecond of the clock. */
export class CounterOverflowError extends ClockError {
  constructor() {
    super(
      'hlc counter would pass 0xffff within one millisecond; ' +
        'wait for the wall clock to advance and try again',
    );
    this.name = 'CounterOverflowError';
    this.code = 'counter_overflow';
  }
}

/** A remote stamp carries this device's own node id. */
export class DuplicateNodeError extends ClockError {
  /** @param {string} [node] */
  constructor(node) {
    super(
      "remote stamp carries this device's own node id; " +
        'every device must enrol to get its own node id',
    );
    this.name = 'DuplicateNodeError';
    this.code = 'duplicate_node';
    this.node = node;
  }
}

/** A node id is not 16 lowercase hex digits. */
export class InvalidNodeError extends ClockError {
  /** @param {unknown} [node] */
  constructor(node) {
    super('node id must be 16 lowercase hex digits, as assigned at enrolment');
    this.name = 'InvalidNodeError';
    this.code = 'invalid_node';
    this.node = node;
  }
}

/**
 * @typedef {Readonly<{millis: number, counter: number, node: string}>} Timestamp
 */

function timestamp(millis, counter, node) {
  return Object.freeze({ millis, counter, node });
}

function daysFromCivil(year, month, day) {
  year -= month <= 2 ? 1 : 0;
  const era = Math.floor(year / 400);
  const yoe = year - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days) {
  days += 719468;
  const era = Math.floor(days / 146097);
  const doe = days - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function stampMillisOrThrow(stamp) {
  if (typeof stamp !== 'string' || stamp.length !== STAMP_LENGTH || !STAMP_RE.test(stamp)) {
    throw new MalformedStampError(stamp);
  }
  const year = Number(stamp.slice(0, 4));
  const month = Number(stamp.slice(5, 7));
  const day = Number(stamp.slice(8, 10));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const last = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (day > last) throw new MalformedStampError(stamp);
  const days = daysFromCivil(year, month, day);
  const minutes = (days * 24 + Number(stamp.slice(11, 13))) * 60 + Number(stamp.slice(14, 16));
  // "SS" + "mmm" read as one number is the ms within the minute.
  return minutes * 60000 + Number(stamp.slice(17, 19) + stamp.slice(20, 23));
}

/**
 * Read a stamp string.
 * @param {string} stamp a 46-character stamp
 * @returns {Timestamp}
 * @throws {MalformedStampError} wrong length or form, or a date that does not exist
 */
export function parse(stamp) {
  const millis = stampMillisOrThrow(stamp);
  return timestamp(millis, parseInt(stamp.slice(25, 29), 16), stamp.slice(30));
}

const pad = (n, width) => String(n).padStart(width, '0');

/**
 * Write a timestamp as its 46-character stamp.
 * @param {Timestamp} ts
 * @returns {string} the stamp; parse(formatStamp(ts)) equals ts
 * @throws {MalformedStampError} time outside years 0000..9999, counter outside
 *   0..0xffff, or node not 16 lowercase hex digits
 */
export function formatStamp(ts) {
  const { millis, counter, node } = ts;
  if (
    !Number.isInteger(millis) ||
    millis < MIN_MILLIS ||
    millis > MAX_MILLIS ||
    !Number.isInteger(counter) ||
    counter < 0 ||
    counter > MAX_COUNTER ||
    typeof node !== 'string' ||
    !NODE_RE.test(node)
  ) {
    throw new MalformedStampError(ts);
  }
  const days = Math.floor(millis / MS_PER_DAY);
  let rest = millis - days * MS_PER_DAY;
  const [year, month, day] = civilFromDays(days);
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return (
    `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}` +
    `T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(ms, 3)}Z` +
    `-${counter.toString(16).padStart(4, '0')}-${node}`
  );
}

/**
 * The clock state of a freshly enrolled device.
 * @param {string} node the node id the server assigned, 16 lowercase hex digits
 * @returns {Timestamp} {millis: 0, counter: 0, node}
 * @throws {InvalidNodeError}
 */
export function initial(node) {
  if (typeof node !== 'string' || !NODE_RE.test(node)) throw new InvalidNodeError(node);
  return timestamp(0, 0, node);
}

function checked(millis, counter, node, now, maxDrift) {
  const drift = millis - now;
  if (drift > maxDrift) throw new ClockDriftError(drift, maxDrift);
  if (counter > MAX_COUNTER) throw new CounterOverflowError();
  return timestamp(millis, counter, node);
}

/**
 * Stamp a local event.
 * @param {Timestamp} clock the device's current clock state
 * @param {number} now wall time in ms since the epoch, corrected by the server offset
 * @param {number} [maxDrift] how far (ms) the clock may run ahead of `now`
 * @returns {Timestamp} the new clock state, which is also the event's stamp
 * @throws {ClockDriftError | CounterOverflowError}
 */
export function send(clock, now, maxDrift = MAX_DRIFT_MS) {
  const old = clock.millis;
  const millis = old >= now ? old : now;
  const counter = millis === old ? clock.counter + 1 : 0;
  return checked(millis, counter, clock.node, now, maxDrift);
}

/**
 * Advance the clock past a stamp received from another device.
 * @param {Timestamp} clock the device's current clock state
 * @param {Timestamp} remote the received stamp
 * @param {number} now wall time in ms since the epoch, corrected by the server offset
 * @param {number} [maxDrift] how far (ms) the clock may run ahead of `now`
 * @returns {Timestamp} the new clock state, greater than both clock and remote
 * @throws {DuplicateNodeError | ClockDriftError | CounterOverflowError}
 */
export function receive(clock, remote, now, maxDrift = MAX_DRIFT_MS) {
  if (remote.node === clock.node) throw new DuplicateNodeError(clock.node);
  const old = clock.millis;
  const far = remote.millis;
  const millis = Math.max(old, now, far);
  let counter;
  if (millis === old && millis === far) counter = Math.max(clock.counter, remote.counter) + 1;
  else if (millis === old) counter = clock.counter + 1;
  else if (millis === far) counter = remote.counter + 1;
  else counter = 0;
  return checked(millis, counter, clock.node, now, maxDrift);
}

/**
 * The UTC time of a stamp in ms since the epoch.
 * @param {string} stamp
 * @returns {number}
 * @throws {MalformedStampError}
 */
export function stampMillis(stamp) {
  return stampMillisOrThrow(stamp);
}

/**
 * The node id of a stamp.
 * @param {string} stamp
 * @returns {string}
 * @throws {MalformedStampError}
 */
export function stampNode(stamp) {
  stampMillisOrThrow(stamp);
  return stamp.slice(30);
}
