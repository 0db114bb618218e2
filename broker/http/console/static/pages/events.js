// Events: the log, filtered and paged by cursor (50 a page, so 100k events cost one page).

import { api } from '../api.js';
import { add, h, messageLink, table, time } from '../dom.js';
import { eventDetails, filterForm, listQuery, pager, stateBadge } from '../lists.js';
import { finder } from './message.js';

const FILTERS = [
  'state', 'messageId', 'url', 'topicName', 'queueName', 'scheduleId', 'label', 'flowControlKey',
  'fromDate', 'toDate', 'order',
];
const PAGE_SIZE = 50;

export const EVENT_COLUMNS = [
  ['Time', (e) => time(e.time)],
  ['State', (e) => stateBadge(e.state)],
  ['Message', (e) => messageLink(e.messageId)],
  ['URL', (e) => e.url],
  ['Details', eventDetails],
];

export async function render(view, ctx) {
  add(view, h('h1', { tabindex: -1 }, 'Events'), finder(), filterForm('events', FILTERS, ctx.params));
  const found = await api('GET', '/v2/events', { query: listQuery(ctx.params, PAGE_SIZE) });
  const empty = found.cursor
    ? 'No match among the events examined so far: the next page searches further.'
    : 'No event matches.';
  add(view,
    table('Events', EVENT_COLUMNS, found.events, empty),
    pager('events', ctx.params, found.cursor),
  );
}
