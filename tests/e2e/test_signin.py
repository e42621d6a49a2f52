"""Sign-in and the home screen on an iPad."""

from .conftest import small_targets


def test_associate_signs_in_and_reaches_home(ipad, sign_in):
    sign_in("ldn.alex")
    assert ipad.get_by_role("heading", name="Hello, Alex").is_visible()
    new_sale = ipad.locator("#new-sale")
    assert new_sale.is_visible()
    box = new_sale.bounding_box()
    assert box["height"] >= 88 and box["width"] >= 300  # the one big thing an associate needs
    assert small_targets(ipad) == []


def test_sign_in_screen_targets_are_touch_sized(ipad):
    ipad.goto("/auth/sign-in")
    assert small_targets(ipad) == []
    # The username field must not be auto-capitalised or auto-corrected by the iPad keyboard.
    field = ipad.get_by_label("Username")
    assert field.get_attribute("autocapitalize") == "none"
    assert field.get_attribute("autocomplete") == "username"
    assert ipad.get_by_label("Password").get_attribute("autocomplete") == "current-password"


def test_wrong_password_keeps_username_and_shows_error_by_field(ipad):
    ipad.goto("/auth/sign-in")
    ipad.get_by_label("Username").fill("ldn.alex")
    ipad.get_by_label("Password").fill("not-the-password")
    ipad.get_by_role("button", name="Sign in").tap()
    assert ipad.get_by_label("Username").input_value() == "ldn.alex"
    error = ipad.locator("#password-error")
    assert "did not match" in error.inner_text()
    assert ipad.get_by_label("Password").get_attribute("aria-describedby") == "password-error"


def test_manager_home_and_sign_out(ipad, sign_in):
    sign_in("ldn.manager")
    assert ipad.locator("#new-sale").count() == 0
    assert small_targets(ipad) == []
    ipad.get_by_role("button", name="Sign out").tap()
    ipad.wait_for_url("**/auth/sign-in")
    assert ipad.get_by_text("You are signed out.").is_visible()
    ipad.goto("/")
    assert "/auth/sign-in" in ipad.url


def test_no_console_errors_or_csp_violations(ipad, sign_in):
    messages = []
    ipad.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    sign_in("ldn.alex")
    ipad.reload()
    assert messages == []
