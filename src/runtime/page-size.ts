/**
 * The size of the watcher's list pages. A fixed number of objects is either many
 * round trips (each page of a consistent list costs the API server and etcd a
 * fixed ~10 ms here, whatever its size: 100 pages of 500 made a 50,000-object list
 * 1.3× slower than one unpaged list) or, for large objects, a huge answer held in
 * memory at once. So the first page is 500 objects, as client-go's and kube-rs's
 * pagers ask, and every later page is sized from the bytes per object seen so
 * far to about `PAGE_BYTES` (2 MiB: 4 MiB pages were faster still but
 * raised peak RSS by ~10% for a 50,000-object list), between `MIN_PAGE` and `MAX_PAGE` objects.
 */
export const FIRST_PAGE = 500;
export const PAGE_BYTES = 2 * 2 ** 20;
export const MIN_PAGE = 100;
export const MAX_PAGE = 10_000;

/** Sizes the pages of one list: `next` learns from each page answered. */
export class PageSizer {
  private objects = 0;
  private bytes = 0;
  /** The limit of the next page. */
  size: number;

  /** `fixed`: every page that many objects (the watcher's `pageSize` option). */
  constructor(private readonly fixed?: number) {
    this.size = fixed ?? FIRST_PAGE;
  }

  /** A page of `objects` objects arrived in `bytes` bytes of JSON (unknown: keep the size). */
  next(objects: number, bytes: number | undefined): number {
    if (this.fixed !== undefined || bytes === undefined || objects === 0) return this.size;
    this.objects += objects;
    this.bytes += bytes;
    const perObject = this.bytes / this.objects;
    this.size = Math.max(MIN_PAGE, Math.min(MAX_PAGE, Math.round(PAGE_BYTES / perObject)));
    return this.size;
  }
}
