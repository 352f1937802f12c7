// The login link's page posts its code back to the server from this (same-site) page,
// so the SameSite=Strict cookie it sets is kept and sent (docs/ui.md, "Sessions").
document.getElementById("login-link").submit();
