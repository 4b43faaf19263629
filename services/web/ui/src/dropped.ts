// What a drop or a folder picker brings: files with the paths they had inside any folder
// dropped, so a dropped folder is uploaded with its structure ("trip/day1/a.jpg").

export interface Named {
  file: File
  name: string
}

// fromDrop walks the dropped items (folders through the File and Directory Entries API,
// which every current browser implements for drops).
export async function fromDrop(dt: DataTransfer): Promise<Named[]> {
  const entries = Array.from(dt.items)
    .filter((i) => i.kind === 'file')
    .map((i) => i.webkitGetAsEntry())
  if (entries.some((e) => e === null)) {
    return Array.from(dt.files).map((file) => ({ file, name: file.name }))
  }
  const out: Named[] = []
  for (const e of entries) await walk(e!, '', out)
  return out
}

// fromPicker takes an <input webkitdirectory>'s files, which carry their relative paths.
export function fromPicker(list: FileList): Named[] {
  return Array.from(list).map((file) => ({ file, name: file.webkitRelativePath || file.name }))
}

async function walk(entry: FileSystemEntry, path: string, out: Named[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject))
    out.push({ file, name: path + entry.name })
    return
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader()
  // readEntries answers in batches (100 in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject))
    if (batch.length === 0) break
    for (const e of batch) await walk(e, `${path}${entry.name}/`, out)
  }
}
