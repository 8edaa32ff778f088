/** Directory archives: backup (archiveDirectories), restore (restoreDirectory) and verify (listArchive). */
export { archiveDirectories, parseDirectoryArgs, validateDirectorySpecs, type ArchiveContext, type ArchiveResult } from './archive.js';
export { Exclusions, SETTINGS_FILE_NAMES, validateExcludePatterns } from './exclusions.js';
export { restoreDirectory, listArchive, findFilesRecord, type RestoreDirectoryOptions, type RestoreDirectoryResult, type ArchiveListing, type ListArchiveOptions } from './restore.js';
