// Placeholder until the CLI lands in this same change.
console.log('txlens');
