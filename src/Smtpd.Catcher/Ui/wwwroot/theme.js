// Runs before the first paint (a classic script in <head>): applies the theme chosen with the toggle, if any.
// Without a choice the stylesheet follows prefers-color-scheme.
try {
  const theme = localStorage.getItem('smtpd-theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch {
  // Storage can be disabled; the system theme then applies.
}
