/* The kata admin page's publishing panel: while a check runs, fetch the panel again every second and a half and
 * put it in place, so progress and the report appear without a reload (without JavaScript: reload the page). */
const PERIOD_MS = 1500;

function panel() { return document.getElementById('kata-check'); }

async function refresh() {
  const current = panel();
  if (!current || current.dataset.running !== 'true') return;
  try {
    const response = await fetch(current.dataset.url, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
    if (response.ok) {
      const holder = document.createElement('div');
      holder.innerHTML = await response.text();
      const next = holder.querySelector('#kata-check');
      if (next) {
        const open = [...current.querySelectorAll('details')].map((d) => d.open);
        next.querySelectorAll('details').forEach((d, i) => { if (i < open.length) d.open = open[i]; });
        current.replaceWith(next);
      }
    }
  } catch (error) {
    // The server is away for a moment: look again at the next tick.
  }
  setTimeout(refresh, PERIOD_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => setTimeout(refresh, PERIOD_MS));
else setTimeout(refresh, PERIOD_MS);
