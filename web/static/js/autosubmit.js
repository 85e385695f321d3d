/* Submits forms marked data-autosubmit once the page has loaded (the button stays for pages
   without JavaScript): used to carry a task's entries back after the accountability statement. */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-autosubmit=true]");
  for (var i = 0; i < forms.length; i += 1) { HTMLFormElement.prototype.submit.call(forms[i]); }
})();
