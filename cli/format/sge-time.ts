/** Date and duration texts as SGE's clients print them, in the local time zone. */

const two = (n: number): string => String(n).padStart(2, '0');

/** `11/23/2026 07:08:39`: qstat's submit/start column. */
export function qstatDate(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${d.getFullYear()} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Mon Nov 23 07:08:39 2026`: C's ctime(3) without the newline (qstat -j, qacct). */
export function ctimeDate(ms: number): string {
  const d = new Date(ms);
  const day = String(d.getDate()).padStart(2, ' ');
  return `${weekdays[d.getDay()]} ${months[d.getMonth()]} ${day} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** `00:01:05`: whole seconds as HH:MM:SS (hours grow past 99 rather than wrap). */
export function hhmmss(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}
