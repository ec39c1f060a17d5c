//! The page shell every console page shares: navigation and a little inline CSS that lays
//! pages out at phone (390 px) and desktop (1280 px) widths; wide tables scroll sideways
//! inside their box rather than widening the page.

use maud::{html, Markup, PreEscaped, DOCTYPE};

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1c2430;background:#f5f7fa}
header{background:#12324a;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}
header a{color:#fff;text-decoration:none}
header a.brand{font-weight:700;font-size:1.1rem}
main{max-width:1240px;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
a{color:#0b5fa5}
.scroll{overflow-x:auto;background:#fff;border:1px solid #d8dee6;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e6eaf0;text-align:left;vertical-align:top}
th{background:#eef2f6;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
pre,code{font:13px/1.35 ui-monospace,monospace;margin:0;white-space:pre-wrap;word-break:break-all}
td pre{min-width:9rem}
form.card,.card{background:#fff;border:1px solid #d8dee6;border-radius:6px;padding:.8rem;margin:.8rem 0}
form.card{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.2rem}
input,select,textarea{font:inherit;padding:.3rem .4rem;border:1px solid #aab4c0;border-radius:4px;max-width:100%}
textarea{min-width:16rem}
button{font:inherit;padding:.35rem .9rem;border:0;border-radius:4px;background:#0b5fa5;color:#fff;cursor:pointer}
button.danger{background:#b3261e}
form.inline{display:flex;flex-wrap:nowrap;gap:.3rem;margin:0}
form.inline input{min-width:7rem;flex:1}
form.inline button{padding:.2rem .6rem}
table.configs code{white-space:nowrap;word-break:normal}
.error{background:#fdecea;border:1px solid #f5c2bd;padding:.6rem .8rem;border-radius:6px}
.note{color:#5b6776;font-size:.85rem}
.ok{color:#1e7b34}.bad{color:#b3261e}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:.6rem;margin:0}
dl.facts div{background:#fff;border:1px solid #d8dee6;border-radius:6px;padding:.5rem .7rem}
dt{font-size:.8rem;color:#5b6776}dd{margin:0;font-weight:600;word-break:break-all}
"#;

/// A whole page: `title` as the heading, `body` under it.
pub fn page(title: &str, body: Markup) -> Markup {
    page_with_head(title, html! {}, body)
}

/// [`page`] with more in its `head` (a page's scripts and their styles).
pub fn page_with_head(title: &str, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tidelog" }
                style { (PreEscaped(CSS)) }
                (head)
            }
            body {
                header {
                    a.brand href="/" { "Tidelog" }
                    a href="/topics" { "Topics" }
                    a href="/groups" { "Consumer groups" }
                    a href="/transactions" { "Transactions" }
                    a href="/metrics" { "Metrics" }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Facts shown as a grid of labelled boxes.
pub fn facts<'a>(items: impl IntoIterator<Item = (&'a str, String)>) -> Markup {
    html! {
        dl.facts {
            @for (name, value) in items {
                div { dt { (name) } dd { (value) } }
            }
        }
    }
}

/// A table in a box that scrolls sideways on a narrow screen: `class` names it (for
/// tests and styles; empty for none), `headers` are its columns, `rows` its body's rows.
pub fn table<'a>(class: &str, headers: impl IntoIterator<Item = &'a str>, rows: Markup) -> Markup {
    html! {
        div.scroll {
            table class=[(!class.is_empty()).then_some(class)] {
                thead { tr { @for header in headers { th { (header) } } } }
                tbody { (rows) }
            }
        }
    }
}
