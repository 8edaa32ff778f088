/**
 * Reads a secret key file the administrator picks, in the browser only (FileReader): its text
 * goes into the page's memory and from there to one API call; it is never uploaded as a file
 * nor stored.
 */
export function readKeyFile(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : '');
    reader.onerror = () => reject(reader.error ?? new Error('The file could not be read.'));
    reader.readAsText(file);
  });
}
