// Thin components over useRealtime(), accessible by construction: roles and names first (STYLE.md).
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import type { ConnectionState } from "../events.js";
import { useRealtime } from "./provider.js";
import type { NotificationItem } from "./store.js";

export const STATUS_TEXT: Record<ConnectionState, string> = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  offline: "Offline",
  disconnected: "Disconnected",
};

export function ConnectionStatusIndicator({ className = "" }: { className?: string }) {
  const { state } = useRealtime();
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

/** The toasts this tab shows (exactly one tab per browser gets each one), newest last, until dismissed. */
export function NotificationToast({ max = 3, autoDismissMs }: { max?: number; autoDismissMs?: number }) {
  const { toasts, dismissToast, markRead } = useRealtime();
  const visible = toasts.slice(-max);
  // Keyed on the oldest visible toast, not on the array: any other store update must not restart its timer.
  const oldest = visible[0]?.id;
  useEffect(() => {
    if (autoDismissMs === undefined || oldest === undefined) return;
    const timer = setTimeout(() => dismissToast(oldest), autoDismissMs);
    return () => clearTimeout(timer);
  }, [autoDismissMs, oldest, dismissToast]);
  return (
    <div className="rt-toasts" aria-label="New notifications" role="region">
      {visible.map((item) => (
        <div
          key={item.id}
          role="alert"
          className={`rt-toast rt-toast--${item.notification.data.severity ?? "info"}`}
          onKeyDown={(event) => event.key === "Escape" && dismissToast(item.id)}
        >
          <NotificationText item={item} />
          <NotificationLink item={item} />
          <button
            type="button"
            className="rt-toast__dismiss"
            aria-label={`Dismiss: ${item.notification.data.title}`}
            onClick={() => {
              markRead(item.id);
              dismissToast(item.id);
            }}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/**
 * Recent notifications with an unread count. Keyboard: the toggle opens the panel and focuses the
 * first notification; ArrowUp/ArrowDown/Home/End move between notifications; Enter or Space marks one
 * read; Escape closes the panel and returns focus to the toggle.
 */
export function NotificationCenter({ onSelect }: { onSelect?: (item: NotificationItem) => void }) {
  const { notifications, unread, markRead, markAllRead } = useRealtime();
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const panelId = useId();
  const toggle = useRef<HTMLButtonElement>(null);
  const items = useRef<Array<HTMLButtonElement | null>>([]);
  const focusIndex = useRef<number | null>(null);

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
          if (notifications.length > 0) moveTo(0);
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
                <span id={`${panelId}-${index}-when`} className="rt-when">
                  {new Date(item.receivedAt).toLocaleTimeString()}
                </span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
