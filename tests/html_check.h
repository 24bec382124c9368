// Small checks of generated HTML for tests: attribute values, counts of a string, and that every
// element opened is closed in order (HTML void elements and XML self-closing tags excepted).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace gan::test {

// Every value of `name="..."` on a tag (attribute names are matched whole).
inline std::vector<std::string> attribute_values(const std::string& html, const std::string& name) {
  std::vector<std::string> out;
  const std::string key = name + "=\"";
  for (size_t at = html.find(key); at != std::string::npos; at = html.find(key, at + 1)) {
    if (at == 0 || !std::isspace(static_cast<unsigned char>(html[at - 1]))) continue;
    const size_t end = html.find('"', at + key.size());
    if (end == std::string::npos) break;
    out.push_back(html.substr(at + key.size(), end - at - key.size()));
  }
  return out;
}

// How many times `what` stands in `text` (overlaps counted).
inline size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

inline ::testing::AssertionResult tags_balance(const std::string& html) {
  static const std::vector<std::string> kVoid = {"meta", "img",    "br",   "hr",  "input",
                                                 "link", "source", "area", "col", "wbr"};
  std::vector<std::string> open;
  size_t at = 0;
  while ((at = html.find('<', at)) != std::string::npos) {
    if (html.compare(at, 4, "<!--") == 0) {
      at = html.find("-->", at);
      if (at == std::string::npos) return ::testing::AssertionFailure() << "unclosed comment";
      continue;
    }
    const size_t end = html.find('>', at);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unclosed tag at " << at;
    const std::string tag = html.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.empty() || tag[0] == '!' || tag[0] == '?') continue;  // doctype, XML declaration
    const bool closing = tag[0] == '/';
    size_t name_end = closing ? 1 : 0;
    while (name_end < tag.size() &&
           (std::isalnum(static_cast<unsigned char>(tag[name_end])) || tag[name_end] == '-'))
      ++name_end;
    const std::string name = tag.substr(closing ? 1 : 0, name_end - (closing ? 1 : 0));
    if (name.empty()) return ::testing::AssertionFailure() << "a tag without a name: <" << tag;
    if (closing) {
      if (open.empty() || open.back() != name)
        return ::testing::AssertionFailure()
               << "</" << name << "> closes <" << (open.empty() ? "nothing" : open.back()) << ">";
      open.pop_back();
      continue;
    }
    if (tag.back() == '/' || std::find(kVoid.begin(), kVoid.end(), name) != kVoid.end()) continue;
    open.push_back(name);
    if (name == "style" || name == "script") {  // raw text up to the closing tag
      const size_t close = html.find("</" + name + ">", at);
      if (close == std::string::npos)
        return ::testing::AssertionFailure() << "<" << name << "> is never closed";
      at = close;
    }
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  return ::testing::AssertionSuccess();
}

}  // namespace gan::test
