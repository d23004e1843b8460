/**
 * Builds CPython from a source archive into a prefix, and puts
 * `python<version>` on PATH. The mark file (the archive's SHA-256) is
 * written last: a prefix without it is a failed build, built again; one with
 * it is never rebuilt.
 *
 * `<bin_dir>/python<version>` is a two-line script that execs the build, not
 * a symlink: a virtualenv records the folder of the interpreter it was made
 * with as its `home`, and Python finds its standard library next to that
 * folder, so it must be the prefix's own bin/ (a symlink in /usr/local/bin
 * made venvs look for it in /usr/local/lib, and find Debian's instead).
 *
 * Arguments: archive sha256 prefix version bin_dir
 */
import { BUILD_PYTHON_SH } from "./programs.gen.ts";
export { BUILD_PYTHON_SH };
