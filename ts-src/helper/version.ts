/** Kept equal to package.json "version" and info.xml <version> by a test. */
export const TOOL_VERSION = '0.1.0';
