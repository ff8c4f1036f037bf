import pg from 'pg';
import type { Logger } from '../../logger.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { notifyChannel } from './capture-sql.js';

const RECONNECT_DELAY_MS = 1_000;

/**
 * LISTENs on the capture channel with a dedicated connection and calls onWake for each NOTIFY.
 * A lost connection is re-opened; meanwhile the relay's poll fallback keeps it going.
 */
export async function listenForEvents(url: string, schema: string, onWake: () => void, logger: Logger): Promise<{ close(): Promise<void> }> {
  const channel = quoteIdent(notifyChannel(schema), 'Notify channel');
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, application_name: 'outbox-relay:listen' });
    client = c;
    const retry = (err: Error) => {
      if (closed || client !== c) return;
      logger.warn({ err: err.message }, 'LISTEN connection lost; polling until it is back');
      client = undefined;
      c.end().catch(() => undefined);
      timer = setTimeout(() => void connect().catch(retry), RECONNECT_DELAY_MS);
      onWake();
    };
    c.on('error', retry);
    c.on('end', () => retry(new Error('connection ended')));
    c.on('notification', () => onWake());
    await c.connect();
    await c.query(`LISTEN ${channel}`);
    if (closed) await c.end();
  };

  try {
    await connect();
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'LISTEN failed; polling until it works');
    if (!closed) timer = setTimeout(() => void connect().catch(() => undefined), RECONNECT_DELAY_MS);
  }

  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
