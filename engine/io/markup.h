// Text inside XML and HTML documents (the SVG plots, report.html).
#pragma once
#include <string>
#include <string_view>

namespace gan {

// Text as XML (and HTML) character data or a quoted attribute value: & < > " ' escaped, invalid
// UTF-8 and control characters (which XML 1.0 forbids even escaped) as '?'.
std::string xml_escape(std::string_view text);

}  // namespace gan
