"""On the wire, in a real browser: after the first screen, a screen fetches only its page."""

CACHED = "() => performance.getEntriesByType('resource').map(e => [e.name, e.transferSize])"


def test_a_screen_after_the_first_fetches_nothing_but_its_page(ipad, sign_in):
    sign_in("ldn.alex")  # the home screen: the first, which fetches the stylesheets, scripts and icons
    # Chromium fetches the favicon after the load event, for itself; a page asking for the same icon while that fetch
    # holds its cache entry goes to the network (it failed CI once). Let the browser finish before moving on.
    ipad.wait_for_load_state("networkidle")
    ipad.goto("/sales/", wait_until="networkidle")
    assets = ipad.evaluate(CACHED)
    assert any("/static/css/app.css?v=" in name for name, _ in assets)  # the page uses them...
    assert [name for name, size in assets if size > 0] == []  # ...from the browser's cache, not the network
    ipad.goto("/")
    assert [name for name, size in ipad.evaluate(CACHED) if size > 0] == []
