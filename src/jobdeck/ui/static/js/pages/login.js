// Log in with a typed token: POST /api/v1/session sets the HttpOnly session cookie.

const form = document.getElementById("login");
const error = document.getElementById("login-error");
const input = document.getElementById("token");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  input.removeAttribute("aria-invalid");
  const response = await fetch("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ token: input.value.trim() }),
  });
  if (response.ok) {
    window.location.assign(form.dataset.next || "/");
    return;
  }
  let message = "That token was not accepted.";
  try {
    const body = await response.json();
    if (response.status === 401) message = "That token is invalid or revoked.";
    else if (body && body.message) message = body.message;
  } catch {
    /* keep the generic message */
  }
  input.setAttribute("aria-invalid", "true");
  error.textContent = message;
  input.focus();
});
