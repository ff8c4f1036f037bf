// A user-code transform for a DynamoDB target (docs/transforms.md): nests the rows of
// public.order_lines into the order's item, one document per order:
//
//   { order_id: 7, customer: "ann", status: "paid", total: 12.50,
//     lines: { "1": { product: "tea", qty: 2, price: 2.50 }, "2": { … } } }
//
// Config (outbox.config.yaml):
//   targets:
//     orders_ddb:
//       kind: dynamodb
//       tables: [public.orders, public.order_lines]
//       mapping:
//         public.orders:      { table: orders, transform: ./docs/examples/order-document.js }
//         public.order_lines: { table: orders, transform: ./docs/examples/order-document.js, onTruncate: ignore }
//       dynamodb:
//         attributeTypes:
//           public.orders:      { order_id: number, total: number }
//           public.order_lines: { price: number }
//
// Each order line is a part of the document ("lines", line_no) with its own version, so lines and
// the order row arrive in any order, each at most once in effect. The order row is merged into the
// item (merge: true) so it does not overwrite the lines; deleting the order deletes the document.

/**
 * @param {import('../../src/targets/user-transform.js').UserTransformInput} change
 * @returns {import('../../src/targets/user-transform.js').UserTransformRow | null}
 */
export function transform(change) {
  if (change.sourceTable === 'public.orders') {
    const key = { order_id: change.key.id };
    if (change.op === 'delete') return { table: 'orders', key, delete: true };
    const { id, ...order } = change.row;
    return { table: 'orders', key, row: { order_id: id, ...order }, merge: true };
  }
  if (change.sourceTable === 'public.order_lines') {
    const key = { order_id: change.key.order_id };
    const part = ['lines', String(change.key.line_no)];
    if (change.op === 'delete') return { table: 'orders', key, part, delete: true };
    const { order_id: _order, line_no: _line, ...line } = change.row;
    if (line.qty !== null && line.qty < 0) throw new Error(`order line ${change.key.line_no} has a negative quantity`);
    return { table: 'orders', key, part, row: line };
  }
  return null;
}
