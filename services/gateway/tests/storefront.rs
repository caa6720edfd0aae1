//! The storefront in a real browser (headless chromium over WebDriver) against the real
//! platform: a seller lists a product with an image, a buyer finds it, buys it and
//! watches the order confirm live; a declined card shows the cancellation and its
//! reason; a product named like HTML shows as text; a buyer does it all with the
//! keyboard alone on a phone-sized window. Saves the screenshots of docs/storefront.md
//! to docs/img.

mod browser;
mod common;

use browser::Browser;
use common::Platform;
use fantoccini::key::Key;
use serde_json::json;

const IMAGE_URL: &str = "https://images.example.com/brass-desk-lamp.jpg";

/// Registers in the browser (starting from the shop) and waits until signed in.
async fn register(browser: &Browser, name: &str, email: &str, role: &str) {
    browser.click("nav a[href^='/register']").await;
    browser.fill("input[name=name]", name).await;
    browser.fill("input[name=email]", email).await;
    browser
        .fill("input[name=password]", "correct horse battery")
        .await;
    browser
        .element("select[name=role]")
        .await
        .select_by_value(role)
        .await
        .expect("role");
    browser.click("main form button[type=submit]").await;
    browser
        .until(
            "signed in after registering",
            &format!("document.querySelector('nav .who')?.textContent.includes('({role})')"),
        )
        .await;
}

/// Fills the checkout's shipping address.
async fn address(browser: &Browser) {
    browser
        .fill("[name='shippingAddress.name']", "Grace Hopper")
        .await;
    browser
        .fill("[name='shippingAddress.line1']", "Friedrichstraße 12")
        .await;
    browser
        .fill("[name='shippingAddress.postalCode']", "10117")
        .await;
    browser
        .fill("[name='shippingAddress.city']", "Berlin")
        .await;
    browser.fill("[name='shippingAddress.country']", "DE").await;
}

#[tokio::test]
async fn a_seller_lists_a_product_and_a_buyer_buys_it_and_watches_the_order_confirm_live() {
    // The provider answers slowly, so the order page is seen PENDING before it confirms.
    let platform = Platform::commerce_with(&[("payment", "PROVIDER_LATENCY_MS", "1500")]).await;
    let browser = Browser::start(platform.gateway.port, 1280, 1000).await;
    browser.open("/").await;
    browser.element("main h1").await;

    // A seller registers and lists a product with an image.
    register(
        &browser,
        "Ada Seller",
        "ada-storefront@example.com",
        "seller",
    )
    .await;
    browser.click("nav a[href='/seller']").await;
    browser.click("main a[href='/seller/products/new']").await;
    browser.fill("input[name=sku]", "LAMP-1").await;
    browser.fill("input[name=name]", "Brass desk lamp").await;
    browser
        .fill(
            "textarea[name=description]",
            "A warm light for late reading.",
        )
        .await;
    browser.fill("input[name=category]", "lighting").await;
    browser.fill("input[name=priceCents]", "24.50").await;
    browser.fill("input[name=imageUrl]", IMAGE_URL).await;
    browser.fill("input[name=initialStock]", "5").await;
    browser.click("main form button[type=submit]").await;
    browser
        .until(
            "the product is listed",
            "document.querySelector('.notice-success')?.textContent.includes('Listed')",
        )
        .await;
    let product_id = browser
        .eval("return location.pathname.split('/').pop();")
        .await
        .as_str()
        .expect("a product id in the address")
        .to_owned();
    platform.await_stock(&product_id, 5).await;
    browser.click("nav button.link").await;

    // A buyer registers, searches, and buys two with tok_visa.
    register(
        &browser,
        "Grace Buyer",
        "grace-storefront@example.com",
        "buyer",
    )
    .await;
    browser.click("a.brand").await;
    browser.fill("input[name=q]", "brass lamp").await;
    browser.click("form.search button[type=submit]").await;
    browser
        .until(
            "the search finds the lamp",
            "location.search.includes('q=brass') && [...document.querySelectorAll('.cards h3 a')].some(a => a.textContent === 'Brass desk lamp')",
        )
        .await;
    browser.screenshot("shop.png").await;
    // Gone if anything from here on reloads the page.
    browser
        .eval("window.sameDocument = true; return null;")
        .await;
    browser.click(".cards h3 a").await;
    browser
        .until(
            "the product page shows the image",
            &format!("document.querySelector('main h1')?.textContent === 'Brass desk lamp' && document.querySelector('img.product-image')?.getAttribute('src') === '{IMAGE_URL}'"),
        )
        .await;
    // Two lamps into the cart, then checkout from the cart page.
    browser.fill("input[name=quantity]", "2").await;
    browser.click("form.buy button.secondary").await;
    browser
        .until(
            "the lamps are in the cart",
            "document.querySelector('form.buy .form-status a[href=\"/cart\"]') !== null",
        )
        .await;
    browser.click("#nav a[href='/cart']").await;
    browser
        .until(
            "the cart shows two lamps",
            "document.querySelectorAll('.cart-line').length === 1 && document.querySelector('.cart-line input').value === '2'",
        )
        .await;
    browser.element("[name='shippingAddress.line1']").await;
    address(&browser).await;
    assert_eq!(
        browser
            .eval("return document.getElementById('pay-tok_visa').checked;")
            .await,
        true
    );
    browser
        .until(
            "the total is two lamps",
            "document.querySelector('p.total')?.textContent.includes('49.00') || document.querySelector('p.total')?.textContent.includes('49,00')",
        )
        .await;
    browser.screenshot_whole("checkout.png").await;
    browser.click("form.checkout button[type=submit]").await;

    browser
        .until(
            "the order page shows PENDING",
            "document.querySelector('.status-line [data-status]')?.dataset.status === 'PENDING'",
        )
        .await;
    browser
        .until(
            "the order page reaches CONFIRMED by itself",
            "document.querySelector('.status-line [data-status]')?.dataset.status === 'CONFIRMED'",
        )
        .await;
    assert_eq!(
        browser.eval("return window.sameDocument === true;").await,
        true,
        "the page reloaded"
    );
    browser
        .until(
            "the timeline shows placed, stock reserved, paid and confirmed, each with its time",
            "[...document.querySelectorAll('.timeline li')].map(li => li.dataset.step + ':' + !!li.querySelector('time[datetime]')).join() === 'PENDING:true,STOCK_RESERVED:true,PAID:true,CONFIRMED:true'",
        )
        .await;
    browser.screenshot("order.png").await;

    // The page's token is the buyer's, in sessionStorage, never in localStorage.
    let token = browser
        .eval("return JSON.parse(sessionStorage.getItem('commerce.session')).token;")
        .await;
    assert_eq!(browser.eval("return localStorage.length;").await, 0);
    let order_id = browser
        .eval("return location.pathname.split('/').pop();")
        .await;
    let order = platform
        .call(
            "GET",
            &format!("/api/orders/{}", order_id.as_str().unwrap()),
            token.as_str(),
            None,
        )
        .await
        .json();
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["items"][0]["quantity"], 2, "{order}");
    assert_eq!(
        order["items"][0]["productId"],
        product_id.as_str(),
        "{order}"
    );
    assert_eq!(order["shippingAddress"]["city"], "Berlin", "{order}");
    assert_eq!(order["shippingAddress"]["country"], "DE", "{order}");

    // The same product with a declined card: the page shows CANCELLED and why.
    browser.click(".lines a").await;
    browser.fill("input[name=quantity]", "1").await;
    browser.click("form.buy button[type=submit]").await;
    browser.element("[name='shippingAddress.line1']").await;
    address(&browser).await;
    browser.click("#pay-tok_chargeDeclined").await;
    browser.click("form.checkout button[type=submit]").await;
    browser
        .until(
            "the order page reaches CANCELLED",
            "document.querySelector('.status-line [data-status]')?.dataset.status === 'CANCELLED'",
        )
        .await;
    let status = browser.text(".status-line").await;
    assert!(
        status.contains("Cancelled") && status.contains("Payment declined"),
        "{status}"
    );
    browser
        .until(
            "the timeline names the card's refusal",
            "document.querySelector('.timeline li[data-step=CANCELLED]')?.textContent.includes('card declined')",
        )
        .await;
    assert_eq!(
        browser
            .eval("return [...document.querySelectorAll('.timeline li')].map(li => li.dataset.step).join();")
            .await,
        "PENDING,STOCK_RESERVED,CANCELLED",
        "a declined card: the stock was reserved, never paid"
    );
    assert_eq!(
        browser.eval("return window.sameDocument === true;").await,
        true,
        "the page reloaded"
    );

    // My orders lists both, newest first.
    browser.click("nav a[href='/orders']").await;
    browser
        .until(
            "my orders lists the cancelled order, then the confirmed one",
            "[...document.querySelectorAll('table.orders tbody tr .badge')].map(b => b.textContent).join() === 'CANCELLED,CONFIRMED'",
        )
        .await;

    // The admin signs in, sees the low-stock list and ships the confirmed order.
    browser.click("nav button.link").await;
    browser.click("nav a[href='/signin']").await;
    browser.fill("input[name=email]", common::ADMIN.0).await;
    browser.fill("input[name=password]", common::ADMIN.1).await;
    browser.click("main form button[type=submit]").await;
    browser.click("nav a[href='/admin']").await;
    browser
        .until(
            "the admin page shows the low-stock list and the confirmed order",
            "document.querySelector('#low-title') && !document.querySelector('#low-title').parentElement.textContent.includes('Loading') && document.querySelectorAll('table.orders tbody tr').length === 1",
        )
        .await;
    browser.click("table.orders tbody button").await;
    browser
        .until(
            "the shipped order leaves the confirmed list",
            "document.querySelector('main')?.textContent.includes('No orders with this status')",
        )
        .await;
    let shipped = platform
        .call(
            "GET",
            &format!("/api/orders/{}", order_id.as_str().unwrap()),
            token.as_str(),
            None,
        )
        .await
        .json();
    assert_eq!(shipped["status"], "SHIPPED", "{shipped}");

    browser.close().await;
    platform.stop().await;
}

#[tokio::test]
async fn a_buyer_signs_in_shops_and_pays_with_the_keyboard_alone_at_phone_width() {
    let platform = Platform::commerce().await;
    let seller = platform
        .signed_in("keyboard-seller@example.com", "seller")
        .await;
    let product_id = platform
        .create_product(
            &seller,
            json!({
                "sku": "APRON-1", "name": "Linen apron", "description": "Washed linen, one size.",
                "category": "kitchen", "priceCents": 3200, "currency": "EUR", "initialStock": 5
            }),
        )
        .await;
    platform.await_stock(&product_id, 5).await;
    let email = "keyboard-buyer@example.com";
    platform
        .register(email, "correct horse battery", "buyer")
        .await;
    let browser = Browser::start(platform.gateway.port, 390, 844).await;

    // Sign in: Tab to each field, type, Enter submits.
    browser.open("/signin").await;
    browser
        .until(
            "the sign-in page",
            "document.querySelector('main h1')?.textContent === 'Sign in'",
        )
        .await;
    browser.fits_the_width("the sign-in page").await;
    browser.tab_to("input[name=email]").await;
    browser.type_keys(email).await;
    browser.tab_to("input[name=password]").await;
    browser.type_keys("correct horse battery").await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "signed in, in the shop",
            "document.querySelector('nav .who')?.textContent.includes('(buyer)') && document.querySelector('.cards h3 a') !== null",
        )
        .await;
    browser.fits_the_width("the shop").await;

    // The product, two of it into the cart.
    browser.tab_to(".cards h3 a").await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "the product page",
            "document.querySelector('main h1')?.textContent === 'Linen apron'",
        )
        .await;
    browser.fits_the_width("the product page").await;
    browser.tab_to("input[name=quantity]").await;
    browser.press(Key::End).await;
    browser.press(Key::Backspace).await;
    browser.type_keys("2").await;
    browser.tab_to("form.buy button.secondary").await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "the aprons are in the cart",
            "document.querySelector('form.buy .form-status a[href=\"/cart\"]') !== null",
        )
        .await;

    // The cart: the address field by field, another card chosen with an arrow key.
    browser.tab_to("nav a[href='/cart']").await;
    browser.press(Key::Enter).await;
    browser
        .until(
            "the cart shows two aprons",
            "document.querySelector('.cart-line input')?.value === '2'",
        )
        .await;
    browser.fits_the_width("the cart").await;
    for (field, text) in [
        ("line1", "Rue de Rivoli 1"),
        ("postalCode", "75001"),
        ("city", "Paris"),
    ] {
        browser
            .tab_to(&format!("[name='shippingAddress.{field}']"))
            .await;
        browser.type_keys(text).await;
    }
    browser.tab_to("[name='shippingAddress.country']").await;
    browser.press(Key::End).await;
    browser.press(Key::Backspace).await;
    browser.press(Key::Backspace).await;
    browser.type_keys("fr").await;
    browser.tab_to("input[name=paymentToken]").await;
    browser.press(Key::Down).await;
    assert_eq!(
        browser
            .eval("return document.querySelector('input[name=paymentToken]:checked').value;")
            .await,
        "tok_mastercard"
    );
    browser.tab_to("form.checkout button[type=submit]").await;
    browser.press(Key::Enter).await;

    browser
        .until(
            "the order page reaches CONFIRMED",
            "document.querySelector('.status-line [data-status]')?.dataset.status === 'CONFIRMED'",
        )
        .await;
    browser.fits_the_width("the order page").await;
    let order_id = browser
        .eval("return location.pathname.split('/').pop();")
        .await;
    let token = platform.login(email, "correct horse battery").await.json()["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let order = platform
        .settled(&token, order_id.as_str().expect("an order id"))
        .await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(order["items"][0]["quantity"], 2, "{order}");
    assert_eq!(
        (
            order["shippingAddress"]["name"].as_str(),
            order["shippingAddress"]["city"].as_str(),
            order["shippingAddress"]["country"].as_str()
        ),
        (Some("Test"), Some("Paris"), Some("FR")),
        "the name comes from the account, the rest was typed"
    );

    browser.close().await;
    platform.stop().await;
}

#[tokio::test]
async fn a_product_named_like_html_shows_as_text_and_runs_nothing() {
    let platform = Platform::commerce().await;
    let seller = platform
        .signed_in("html-seller@example.com", "seller")
        .await;
    let name = "<img src=x onerror=alert(1)>";
    let product_id = platform
        .create_product(
            &seller,
            json!({
                "sku": "HTML-1", "name": name, "description": "<script>alert(2)</script>",
                "category": "<b>odd</b>", "priceCents": 100, "currency": "EUR", "initialStock": 1
            }),
        )
        .await;
    let browser = Browser::start(platform.gateway.port, 390, 844).await;

    browser.open("/").await;
    browser
        .until(
            "the shop lists the product by its name, as text",
            &format!(
                "[...document.querySelectorAll('.cards h3 a')].some(a => a.textContent === {})",
                json!(name)
            ),
        )
        .await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main img').length;")
            .await,
        0
    );
    assert!(!browser.alert_open().await, "an alert opened");

    browser.click(".cards h3 a").await;
    browser
        .until(
            "the product page shows the name as its heading",
            &format!(
                "document.querySelector('main h1')?.textContent === {}",
                json!(name)
            ),
        )
        .await;
    assert_eq!(
        browser.text(".description").await,
        "<script>alert(2)</script>"
    );
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main img, main script, main b').length;")
            .await,
        0
    );
    assert!(!browser.alert_open().await, "an alert opened");
    assert!(
        browser
            .eval("return location.pathname;")
            .await
            .as_str()
            .unwrap()
            .ends_with(&product_id),
        "on the product's page"
    );

    browser.close().await;
    platform.stop().await;
}
