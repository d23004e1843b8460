/** djaploy's version, reported by --version. */
export const VERSION = "0.1.0";
