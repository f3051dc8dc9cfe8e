import type { Database } from "../store/database.js";
import type { QueueSettings } from "../store/queue-record.js";
import { queueListSettings } from "../store/queues.js";
import { coalesced } from "../util/coalesced.js";
import type { Logger } from "../util/log.js";

/**
 * This replica's copy of the queues' settings: which are paused, which claim through the
 * limited path, their lease lengths. Refreshed when any replica changes a queue (the
 * baton_queues notification) and on the fallback poll. The SQL re-checks what matters (a
 * paused queue claims nothing even if this copy is stale), so staleness costs only a query.
 */
export class QueueSettingsCache {
  private settings = new Map<string, QueueSettings>();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  get(queue: string): QueueSettings | undefined {
    return this.settings.get(queue);
  }

  all(): Iterable<QueueSettings> {
    return this.settings.values();
  }

  /** Reloads; concurrent calls share one load and one more after it. */
  readonly refresh = coalesced(async () => {
    try {
      this.settings = new Map((await queueListSettings(this.db)).map((s) => [s.name, s]));
    } catch (error) {
      this.log.warn("loading queue settings failed", { error });
    }
  });
}
