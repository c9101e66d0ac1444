// Thin components over useRealtime(), accessible by construction: roles and names first (STYLE.md).
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import type { ConnectionState } from "../events.js";
import { useConnectionState, useNotifications, useRealtimeActions, useRealtimeSelector } from "./provider.js";
import type { NotificationItem, RealtimeSnapshot } from "./store.js";

export const STATUS_TEXT: Record<ConnectionState, string> = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  offline: "Offline",
  disconnected: "Disconnected",
};

export function ConnectionStatusIndicator({ className = "" }: { className?: string }) {
  const state = useConnectionState();
  return (
    <div role="status" className={`rt-status rt-status--${state} ${className}`.trim()} data-state={state}>
      {/* A shape per state (drawn by the stylesheet) next to the words: colour is never the only signal. */}
      <span className="rt-status__icon" aria-hidden="true" />
      <span className="rt-status__text">{STATUS_TEXT[state]}</span>
    </div>
  );
}

function NotificationText({ item }: { item: NotificationItem }) {
  const { title, body, severity } = item.notification.data;
  return (
    <>
      <span className="rt-title">{severity ? <span className="rt-severity">{severity}: </span> : null}{title}</span>
      {body ? <span className="rt-body">{body}</span> : null}
    </>
  );
}

// Outside the notification's button: a link inside a button would be two controls in one.
function NotificationLink({ item }: { item: NotificationItem }) {
  const { link, title } = item.notification.data;
  return link ? <a className="rt-link" href={link} aria-label={`Open: ${title}`}>Open</a> : null;
}

/**
 * The toasts this tab shows (exactly one tab per browser gets each one), newest last: at most three, a replay
 * of more than three as one summary that opens the center. Each dismisses itself after the provider's
 * `toastMs` (8 s by default) unless the pointer is over it or focus is in it (WCAG 2.2.2); Escape or its
 * button dismisses it.
 */
export function NotificationToast() {
  const toasts = useRealtimeSelector(selectToasts);
  const { dismissToast, markRead, pauseToast, resumeToast, setCenterOpen } = useRealtimeActions();
  return (
    <div className="rt-toasts" aria-label="New notifications" role="region">
      {toasts.map((toast) => (
        <div
          key={toast.id}
          role="alert"
          className={`rt-toast rt-toast--${toast.type === "summary" ? "info" : toast.item.notification.data.severity ?? "info"}`}
          onKeyDown={(event) => event.key === "Escape" && dismissToast(toast.id)}
          onMouseEnter={() => pauseToast(toast.id)}
          onMouseLeave={() => resumeToast(toast.id)}
          onFocus={() => pauseToast(toast.id)}
          onBlur={(event) => !event.currentTarget.contains(event.relatedTarget as Node | null) && resumeToast(toast.id)}
        >
          {toast.type === "summary" ? (
            <button type="button" className="rt-toast__summary" onClick={() => {
              dismissToast(toast.id);
              setCenterOpen(true);
            }}>
              {toast.count} new notifications
            </button>
          ) : (
            <>
              <NotificationText item={toast.item} />
              <NotificationLink item={toast.item} />
            </>
          )}
          <button
            type="button"
            className="rt-toast__dismiss"
            aria-label={`Dismiss: ${toast.type === "summary" ? `${toast.count} new notifications` : toast.item.notification.data.title}`}
            onClick={() => {
              if (toast.type === "notification") markRead(toast.id);
              dismissToast(toast.id);
            }}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

const selectToasts = (snapshot: RealtimeSnapshot) => snapshot.toasts;
const selectCenter = (snapshot: RealtimeSnapshot) => snapshot.centerOpen;
const selectUnread = (snapshot: RealtimeSnapshot) => snapshot.unread;
const selectMore = (snapshot: RealtimeSnapshot) => snapshot.more;

/**
 * The user's notifications of the last 24 hours (the history, ADR 0020, and what arrived since) with the
 * server's unread count — the same on every tab and device. Each unread one has a "Mark as read" control;
 * "Load older" asks for the next page when more are stored. Keyboard: the toggle opens the panel and
 * focuses the first notification; ArrowUp/ArrowDown/Home/End move between notifications; Enter or Space
 * marks one read; Delete marks the focused one read and moves to the next; Escape closes the panel and
 * returns focus to the toggle.
 */
export function NotificationCenter({ onSelect }: { onSelect?: (item: NotificationItem) => void }) {
  const notifications = useNotifications();
  const unread = useRealtimeSelector(selectUnread);
  const more = useRealtimeSelector(selectMore);
  const open = useRealtimeSelector(selectCenter);
  const { markRead, markAllRead, loadOlder, setCenterOpen: setOpen } = useRealtimeActions();
  const [active, setActive] = useState(0);
  const panelId = useId();
  const toggle = useRef<HTMLButtonElement>(null);
  const items = useRef<Array<HTMLButtonElement | null>>([]);
  const focusIndex = useRef<number | null>(null);

  // However it opens (its toggle, or a summary toast), focus moves to the first notification
  // (declared before the focusing effect below, which runs after it in the same commit).
  const wasOpen = useRef(open);
  useEffect(() => {
    if (open && !wasOpen.current && notifications.length > 0) moveTo(0);
    wasOpen.current = open;
  });

  useEffect(() => {
    if (focusIndex.current === null) return;
    items.current[focusIndex.current]?.focus();
    focusIndex.current = null;
  });

  const moveTo = (index: number) => {
    const bounded = Math.max(0, Math.min(notifications.length - 1, index));
    setActive(bounded);
    focusIndex.current = bounded;
  };

  const close = () => {
    setOpen(false);
    toggle.current?.focus();
  };

  const onListKey = (event: KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowDown: active + 1, ArrowUp: active - 1, Home: 0, End: notifications.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      moveTo(moves[event.key]!);
    } else if (event.key === "Delete") {
      // Done with this one: mark it read (on every tab and device) and go on to the next.
      const item = notifications[active];
      if (!item) return;
      event.preventDefault();
      if (!item.read) markRead(item.id);
      moveTo(active + 1);
    }
  };

  return (
    <div className="rt-center" onKeyDown={(event) => event.key === "Escape" && open && close()}>
      <button
        ref={toggle}
        type="button"
        className="rt-center__toggle"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => {
          if (open) return close();
          setOpen(true);
        }}
      >
        Notifications <span className="rt-badge">{unread}</span> unread
      </button>
      <div id={panelId} className="rt-center__panel" role="region" aria-label="Notification center" hidden={!open}>
        <div className="rt-center__header">
          <h2>Recent notifications</h2>
          <button type="button" onClick={markAllRead} disabled={unread === 0}>Mark all as read</button>
        </div>
        {notifications.length === 0 ? (
          <p>No notifications yet.</p>
        ) : (
          <ul aria-label="Recent notifications" onKeyDown={onListKey}>
            {notifications.map((item, index) => (
              <li key={item.id} className={item.read ? "rt-item rt-item--read" : "rt-item rt-item--unread"}>
                <button
                  ref={(element) => {
                    items.current[index] = element;
                  }}
                  type="button"
                  tabIndex={index === active ? 0 : -1}
                  aria-describedby={`${panelId}-${index}-when`}
                  onFocus={() => setActive(index)}
                  onClick={() => {
                    markRead(item.id);
                    onSelect?.(item);
                  }}
                >
                  <span className="rt-unread-marker">{item.read ? "Read" : "Unread"}: </span>
                  <NotificationText item={item} />
                </button>
                <NotificationLink item={item} />
                {item.read ? null : (
                  <button type="button" className="rt-mark" aria-label={`Mark as read: ${item.notification.data.title}`}
                    onClick={() => markRead(item.id)}>
                    Mark as read
                  </button>
                )}
                <span id={`${panelId}-${index}-when`} className="rt-when">
                  {new Date(item.receivedAt).toLocaleTimeString()}
                </span>
              </li>
            ))}
          </ul>
        )}
        {more ? <button type="button" className="rt-center__older" onClick={loadOlder}>Load older</button> : null}
      </div>
    </div>
  );
}
