/** The largest page_size a broker accepts: callers that read every page ask for it. */
export const MAX_PAGE_SIZE = 1000;

/**
 * Every item of a paged List call (ListJobs, ListQueues, ListSchedules), in order: calls
 * `fetch` with an empty page_token, then with each next_page_token, until a page has none.
 * A broker caps each page by count and by bytes; this is for callers that want the whole list.
 */
export async function allPages<Page extends { nextPageToken: string }, Item>(
  fetch: (pageToken: string) => Promise<Page>,
  items: (page: Page) => Item[],
): Promise<Item[]> {
  const all: Item[] = [];
  let pageToken = "";
  do {
    const page = await fetch(pageToken);
    all.push(...items(page));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}
